-- Données
SELECT 'café';

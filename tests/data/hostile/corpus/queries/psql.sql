\set ON_ERROR_STOP on
\i ../../../../etc/passwd
\! rm -rf /
SELECT :'v', :"t";
\copy t to program 'x'

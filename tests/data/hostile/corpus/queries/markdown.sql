UPDATE "a|b`c<script>x</script>
| --- |" SET n = n + 1 WHERE id = 1;
SELECT 1 FROM `<img src=x>`;

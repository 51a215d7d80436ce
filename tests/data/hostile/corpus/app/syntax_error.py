def f(:
    cur.execute('UPDATE t SET n = n + 1 WHERE id = 1')

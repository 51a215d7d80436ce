cur.execute('SELECT ÿ')

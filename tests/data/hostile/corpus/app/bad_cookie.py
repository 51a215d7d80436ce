# -*- coding: nonsense -*-
cur.execute('SELECT 1')

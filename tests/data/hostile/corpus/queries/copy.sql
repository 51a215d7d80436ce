COPY t (a) FROM stdin;
\.x
'unclosed

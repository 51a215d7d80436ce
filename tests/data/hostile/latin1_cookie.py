# -*- coding: latin-1 -*-
# pglint: ignore[PGL101]
NAME = "été"

from pglint.cli import main

main()

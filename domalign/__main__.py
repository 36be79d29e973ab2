from domalign.cli import main

main()

from costper.cli import main

main()

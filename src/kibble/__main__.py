from kibble.cli.main import main

main()

"""One module per ``aigenbench`` subcommand; each has ``main(argv, command) -> int``."""

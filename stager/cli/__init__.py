"""stager's command line: thin typer commands over the library."""

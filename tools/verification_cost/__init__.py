"""What the runner's card check costs on the way to a program's first result."""

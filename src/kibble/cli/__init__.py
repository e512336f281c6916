"""The `kibble` command line. Each area has its own module; main.py assembles them."""

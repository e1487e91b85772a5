"""What verification costs in memory: peak RSS growth with the mmap loader, verified, cached."""

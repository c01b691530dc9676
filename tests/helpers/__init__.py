"""What the tests share: tiny training runs, corpora they write, and the scripts they start."""

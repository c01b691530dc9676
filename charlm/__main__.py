from charlm.cli import main

# Guarded: tokenizer worker processes are spawned and import the main module without running it.
if __name__ == "__main__":
    main()

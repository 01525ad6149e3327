import gc

gc.disable()  # from the very start: warmup.cli.main says why, and when it runs again

from warmup.cli import main  # noqa: E402

main()

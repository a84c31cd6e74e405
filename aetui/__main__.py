from aetui.cli import main

main()

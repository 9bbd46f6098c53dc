from nn2mcu.cli import main

raise SystemExit(main())

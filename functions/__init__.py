"""One Lambda function per route group and per queue. Each module only builds its handler from
`stratus.aws`; `stratus.aws.functions.FUNCTIONS` says which routes and queues each serves."""

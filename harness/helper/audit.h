/* `deadpeer-helper audit`: every TCP socket of running processes, read once (docs/DESIGN.md, "The audit mode"). */
#pragma once

/* argv after "audit"; returns the exit code (0, 1 when the walk itself failed, 2 for a usage error) */
int audit_main(int argc, char **argv);

// Every test process routes the Temporal SDK's own logs through a WARN-level logger, so test output shows
// what matters (Runtime is a per-process singleton: this is the one place that installs it in tests).
import { DefaultLogger, Runtime } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger('WARN') });

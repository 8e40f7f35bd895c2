/**
 * The failure converter of every Tempered process, the CLI and the workflow bundle (loaded by path: the SDK
 * requires it in the workflow sandbox and in the activity worker). It moves each failure's message and stack
 * trace into an encoded payload, so the payload codec encrypts them with everything else: BMC error messages
 * name addresses and echo what the BMC answered. Without encryption they are plain JSON payloads, which the
 * Temporal UI and CLI decode as they do any payload.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });

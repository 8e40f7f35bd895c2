/**
 * `tempered codec-server`: serves the Temporal UI's codec endpoint (lib/codec-server.ts) with the
 * installation's keyring, so people read encrypted histories in the UI (`--ui-codec-endpoint` of the dev
 * server, `codec.endpoint` in the UI's config) and with `temporal --codec-endpoint` or `tempered
 * --codec-endpoint`, without holding the keys themselves. Runs until SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { bearerTokens, startCodecServer } from '../lib/codec-server.ts';
import { keyringFromEnv, protectionFromKeyring } from '../workers/data-converter.ts';
import { UsageError, isUsageError } from './usage-error.ts';

export const usage = [
  'usage: tempered codec-server [--listen HOST:PORT] [--ui-origin URL]... [--namespace NS]...',
  '                             [--auth-token-file FILE] [--include-credentials] [--keys-file FILE] [--json]',
  '',
  "Serves POST /encode and /decode (Temporal's codec server protocol) with the payload encryption keys of",
  'TEMPERED_ENCRYPTION_KEYS_FILE or TEMPERED_ENCRYPTION_KEYS (or --keys-file).',
  '  --listen HOST:PORT      default 127.0.0.1:8888 (port 0: a free one)',
  "  --ui-origin URL         a browser origin allowed to call (the Temporal UI's, e.g. http://127.0.0.1:8233)",
  '  --namespace NS          serve only these Temporal namespaces (X-Namespace); default any',
  "  --auth-token-file FILE  require Authorization: Bearer <a line of FILE> (the UI can pass the user's token)",
  '  --include-credentials   allow cross-origin credentials (the UI\'s "include cross-origin credentials")',
  '  --json                  print {"url": ...} when listening, and log calls as JSON lines',
].join('\n');

function parseListen(value: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(value);
  if (!match) throw new UsageError(`--listen must be HOST:PORT, not '${value}'`);
  return { host: (match[1] ?? '').replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: Number(match[2]) };
}

/** Entry point of `tempered codec-server`. */
export async function run(args: string[]): Promise<number> {
  try {
    const { values } = parseArgs({
      args,
      options: {
        listen: { type: 'string', default: '127.0.0.1:8888' },
        'ui-origin': { type: 'string', multiple: true, default: [] },
        namespace: { type: 'string', multiple: true, default: [] },
        'auth-token-file': { type: 'string' },
        'include-credentials': { type: 'boolean', default: false },
        'keys-file': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const env = values['keys-file']
      ? { ...process.env, TEMPERED_ENCRYPTION_KEYS: undefined, TEMPERED_ENCRYPTION_KEYS_FILE: values['keys-file'] }
      : process.env;
    const { codec, summary } = protectionFromKeyring(keyringFromEnv(env));
    if (!codec)
      throw new UsageError('no keys: set TEMPERED_ENCRYPTION_KEYS_FILE (or TEMPERED_ENCRYPTION_KEYS, or --keys-file)');
    const tokens = values['auth-token-file']
      ? readFileSync(values['auth-token-file'], 'utf8')
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l !== '' && !l.startsWith('#'))
      : undefined;
    if (tokens && tokens.length === 0) throw new UsageError(`${values['auth-token-file']} holds no token`);
    const { host, port } = parseListen(values.listen);
    const logger = pino({ name: 'tempered-codec-server', ...(values.json ? {} : { level: 'warn' }) });
    const server = await startCodecServer({
      codec,
      host,
      port,
      allowedOrigins: values['ui-origin'],
      includeCredentials: values['include-credentials'],
      namespaces: values.namespace,
      ...(tokens ? { authorize: bearerTokens(tokens) } : {}),
      logger,
    });
    if (values.json)
      console.log(JSON.stringify({ url: server.url, keys: summary.keyIds, encryptsWith: summary.encryptsWith }));
    else {
      console.log(
        `codec server listening on ${server.url} (keys ${summary.keyIds?.join(', ')}; ` +
          `${tokens ? 'bearer token required' : 'no authorization'})`,
      );
      console.log(`Temporal UI: --ui-codec-endpoint ${server.url}   Temporal CLI: --codec-endpoint ${server.url}`);
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.stop();
    return 0;
  } catch (error) {
    if (isUsageError(error)) {
      console.error(`tempered codec-server: ${(error as Error).message}\n\n${usage}`);
      return 2;
    }
    console.error(`tempered codec-server: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

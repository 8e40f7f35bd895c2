/**
 * `tempered rollout`: create, follow and steer FirmwareRollouts (tempered.dev/v1alpha1) through the Kubernetes
 * API, the same objects `kubectl` edits: `pause`, `resume` and `abort` patch the spec, `status` reads it (with a
 * progress bar, the waves and the hosts; `--watch` follows it until it ends; `--json` for scripts). Errors name
 * their cause and exit non-zero (1: the API refused, 2: bad usage).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { FirmwareRolloutSpecSchema, type FirmwareRolloutStatus } from '../domain/firmware-rollout.schema.ts';
import { TEMPERED_GROUP, TEMPERED_VERSION } from '../domain/names.ts';

export const usage = [
  'usage: tempered rollout <command> NAME [options]',
  '',
  'commands:',
  '  create NAME   create a FirmwareRollout (from flags, or -f FILE with a FirmwareRollout or its spec)',
  '  status NAME   phase, progress, waves and hosts (--watch follows it until it ends; --json prints the object)',
  '  pause NAME    start no new host (hosts in flight finish)',
  '  resume NAME   go on; after a failure-budget pause the failed hosts are tried again',
  '  abort NAME    stop for good: hosts in flight finish their current flash, no new one starts',
  '',
  'options:',
  '  -n, --namespace NS        the rollout\'s namespace (default: the kubeconfig context\'s, else "default")',
  '  --kubeconfig FILE         default: KUBECONFIG, else ~/.kube/config',
  '  -f, --file FILE           create: the FirmwareRollout (YAML or JSON)',
  '  --selector k=v[,k=v]      create: the BareMetalHosts to take (labels of this namespace)',
  '  --update COMPONENT=URL    create: a firmware update (bios, bmc or nic:<id>); repeatable',
  '  --setting NAME=VALUE      create: a BIOS setting; repeatable',
  '  --canary N --waves 25,50,100 --max-unavailable N --failure-budget N --host-timeout-minutes N',
  '  --paused                  create it paused',
  '  --watch                   status: follow until the rollout ends',
  '  --json                    status: the object as JSON',
].join('\n');

class UsageError extends Error {}

/** A FirmwareRollout as the CLI reads it. */
export interface RolloutView {
  metadata: { name: string; namespace?: string; generation?: number };
  spec: Record<string, unknown>;
  status?: Partial<FirmwareRolloutStatus>;
}

const pairs = (values: string[] | undefined, what: string): [string, string][] =>
  (values ?? []).map((v) => {
    const i = v.indexOf('=');
    if (i <= 0) throw new UsageError(`${what} ${JSON.stringify(v)} is not NAME=VALUE`);
    return [v.slice(0, i), v.slice(i + 1)];
  });

const int = (value: string | undefined, what: string): number | undefined => {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${what} must be a whole number, not ${JSON.stringify(value)}`);
  return Number(value);
};

/** A FirmwareRollout spec from the command line's flags (pure; validated by the schema the CRD is made from). */
export function specFromFlags(values: {
  selector?: string;
  update?: string[];
  setting?: string[];
  canary?: string;
  waves?: string;
  'max-unavailable'?: string;
  'failure-budget'?: string;
  'host-timeout-minutes'?: string;
  paused?: boolean;
}): Record<string, unknown> {
  if (!values.selector) throw new UsageError('create needs --selector k=v (the hosts to take) or -f FILE');
  const matchLabels = Object.fromEntries(pairs(values.selector.split(','), '--selector'));
  const updates = pairs(values.update, '--update').map(([component, url]) => ({ component, url }));
  // A setting that reads as a whole number is sent as one (IntOrString, as HostFirmwareSettings takes it).
  const settings = Object.fromEntries(
    pairs(values.setting, '--setting').map(([k, v]) => [k, /^-?\d+$/.test(v) ? Number(v) : v]),
  );
  const strategy = Object.fromEntries(
    Object.entries({
      canary: int(values.canary, '--canary'),
      waves: values.waves?.split(',').map((w) => int(w.trim(), '--waves')),
      maxUnavailable: int(values['max-unavailable'], '--max-unavailable'),
      failureBudget: int(values['failure-budget'], '--failure-budget'),
      hostTimeoutMinutes: int(values['host-timeout-minutes'], '--host-timeout-minutes'),
    }).filter(([, v]) => v !== undefined),
  );
  const spec = {
    selector: { matchLabels },
    ...(updates.length > 0 ? { updates } : {}),
    ...(Object.keys(settings).length > 0 ? { settings } : {}),
    ...(Object.keys(strategy).length > 0 ? { strategy } : {}),
    ...(values.paused ? { paused: true } : {}),
  };
  const parsed = FirmwareRolloutSpecSchema.safeParse(spec);
  if (!parsed.success) {
    throw new UsageError(parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; '));
  }
  return spec;
}

/** The phases a rollout never leaves. */
const FINAL = ['Completed', 'Aborted', 'Failed'];

/** A progress bar of `done` out of `total`, `width` cells wide. */
export function progressBar(done: number, total: number, width = 30): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

const MARK: Record<string, string> = {
  Pending: '·',
  InProgress: '▶',
  Updated: '✔',
  Failed: '✘',
  Skipped: '–',
  Aborted: '■',
};

/** What `status` prints for a rollout (pure). */
export function renderRolloutStatus(rollout: RolloutView): string {
  const s = rollout.status;
  const name = `${rollout.metadata.namespace ?? ''}/${rollout.metadata.name}`;
  if (!s?.phase) return `${name}: Pending (the bridge has not started it yet)`;
  const total = s.total ?? 0;
  const done = (s.updated ?? 0) + (s.failed ?? 0) + (s.skipped ?? 0) + (s.aborted ?? 0);
  const lines = [
    `${name}: ${s.phase}${s.message ? ` (${s.message})` : ''}`,
    `${progressBar(done, total)} ${done}/${total}  updated ${s.updated ?? 0}, in progress ${s.inProgress ?? 0}, ` +
      `failed ${s.failed ?? 0}, pending ${s.pending ?? 0}, skipped ${s.skipped ?? 0}, aborted ${s.aborted ?? 0}`,
    '',
  ];
  for (const [i, wave] of (s.waves ?? []).entries()) {
    const waveDone = wave.updated + wave.failed + wave.skipped + wave.aborted;
    const current = i === s.currentWave && !FINAL.includes(s.phase) ? ' ◀' : '';
    lines.push(`${wave.name.padEnd(8)} ${progressBar(waveDone, wave.total, 20)} ${waveDone}/${wave.total}${current}`);
    for (const host of (s.hosts ?? []).filter((h) => h.wave === i)) {
      const versions = (host.versions ?? []).map((v) => `${v.component} ${v.version}`).join(', ');
      const detail = host.state === 'Updated' ? versions : host.message;
      const mark = MARK[host.state] ?? '?';
      lines.push(`  ${mark} ${host.name.padEnd(24)} ${host.state.padEnd(10)} ${detail ?? ''}`.trimEnd());
    }
  }
  return lines.join('\n');
}


interface Api {
  get(name: string): Promise<RolloutView>;
  create(body: Record<string, unknown>): Promise<RolloutView>;
  patchSpec(name: string, spec: Record<string, unknown>): Promise<RolloutView>;
  watch(name: string, onChange: (rollout: RolloutView) => void, onEnd: (err: unknown) => void): Promise<() => void>;
}

function api(kubeconfig: string | undefined, namespace: string | undefined): { api: Api; namespace: string } {
  const kc = new k8s.KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromDefault();
  const ns = namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  const ref = { group: TEMPERED_GROUP, version: TEMPERED_VERSION, namespace: ns, plural: 'firmwarerollouts' };
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  return {
    namespace: ns,
    api: {
      get: async (name) => (await objects.getNamespacedCustomObject({ ...ref, name })) as RolloutView,
      create: async (body) => (await objects.createNamespacedCustomObject({ ...ref, body })) as RolloutView,
      patchSpec: async (name, spec) =>
        (await objects.patchNamespacedCustomObject({ ...ref, name, body: { spec } }, mergePatch)) as RolloutView,
      async watch(name, onChange, onEnd) {
        const request = await new k8s.Watch(kc).watch(
          `/apis/${TEMPERED_GROUP}/${TEMPERED_VERSION}/namespaces/${ns}/firmwarerollouts`,
          { fieldSelector: `metadata.name=${name}` },
          (_type: string, object: unknown) => onChange(object as RolloutView),
          onEnd,
        );
        return () => request.abort();
      },
    },
  };
}

function explain(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e.code === 'number') {
    let message = e.message ?? '';
    try {
      const body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as { message?: string } | undefined;
      if (body?.message) message = body.message;
    } catch {
      // not JSON: keep the client's message
    }
    return `the Kubernetes API answered ${e.code}: ${message}`;
  }
  return e.message ?? String(err);
}

/**
 * Prints the rollout's status each time it changes until it reaches a final phase; a watch the server ends is
 * reopened (after a read, so no change is missed), and nothing is left running once the rollout is over.
 */
async function follow(client: Api, name: string, json: boolean): Promise<number> {
  const tty = process.stdout.isTTY;
  return new Promise((resolve) => {
    let stop: (() => void) | undefined;
    let over = false;
    const finish = (code: number) => {
      over = true;
      stop?.();
      resolve(code);
    };
    const show = (rollout: RolloutView) => {
      if (over) return;
      if (json) console.log(JSON.stringify(rollout));
      else {
        if (tty) process.stdout.write('\x1b[2J\x1b[H');
        console.log(`${renderRolloutStatus(rollout)}\n`);
      }
      if (FINAL.includes(rollout.status?.phase ?? '')) finish(0);
    };
    const start = async () => {
      try {
        show(await client.get(name));
        if (over) return;
        stop = await client.watch(name, show, () => {
          if (!over) setTimeout(() => void start(), 1000);
        });
        if (over) stop();
      } catch (err) {
        console.error(`tempered rollout: ${explain(err)}`);
        finish(1);
      }
    };
    void start();
  });
}

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        namespace: { type: 'string', short: 'n' },
        kubeconfig: { type: 'string' },
        file: { type: 'string', short: 'f' },
        selector: { type: 'string' },
        update: { type: 'string', multiple: true },
        setting: { type: 'string', multiple: true },
        canary: { type: 'string' },
        waves: { type: 'string' },
        'max-unavailable': { type: 'string' },
        'failure-budget': { type: 'string' },
        'host-timeout-minutes': { type: 'string' },
        paused: { type: 'boolean' },
        watch: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    console.error(`tempered rollout: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, name] = positionals;
  if (values.help || !command) {
    console.log(usage);
    return values.help ? 0 : 2;
  }
  if (!name) {
    console.error(`tempered rollout: ${command} needs the rollout's NAME\n\n${usage}`);
    return 2;
  }
  const { api: client, namespace } = api(values.kubeconfig, values.namespace);
  try {
    switch (command) {
      case 'create': {
        let spec: Record<string, unknown>;
        if (values.file) {
          const text = readFileSync(values.file === '-' ? 0 : values.file, 'utf8');
          const doc = parseYaml(text) as Record<string, unknown>;
          spec = (doc['spec'] as Record<string, unknown> | undefined) ?? doc;
        } else {
          spec = specFromFlags(values);
        }
        const kind = { apiVersion: `${TEMPERED_GROUP}/${TEMPERED_VERSION}`, kind: 'FirmwareRollout' };
        const body = { ...kind, metadata: { name, namespace }, spec };
        const created = await client.create(body);
        console.log(values.json ? JSON.stringify(created) : `firmwarerollout ${namespace}/${name} created`);
        return 0;
      }
      case 'status':
        if (values.watch) return await follow(client, name, Boolean(values.json));
        {
          const rollout = await client.get(name);
          console.log(values.json ? JSON.stringify(rollout) : renderRolloutStatus(rollout));
        }
        return 0;
      case 'pause':
      case 'resume':
      case 'abort': {
        const spec = command === 'abort' ? { abort: true } : { paused: command === 'pause' };
        const patched = await client.patchSpec(name, spec);
        const done = command === 'abort' ? 'aborted' : `${command}d`;
        console.log(values.json ? JSON.stringify(patched) : `firmwarerollout ${namespace}/${name} ${done}`);
        return 0;
      }
      default:
        console.error(`tempered rollout: unknown command '${command}'\n\n${usage}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`tempered rollout: ${err.message}`);
      return 2;
    }
    console.error(`tempered rollout: ${explain(err)}`);
    return 1;
  }
}

/**
 * cloud-init's first boot from an OpenStack config drive, as far as a simulated host needs it to join a
 * cluster: the ConfigDrive datasource's metadata (meta_data.json with its `hostname` → `local-hostname` and
 * `uuid` → `instance-id` copies), the instance data Jinja templates see (`ds.meta_data.*`, `v1.*` and their
 * top-level aliases, `-`/`.` keys also under `_` names), the user-data formats (`## template: jinja`,
 * `#cloud-config`, others recorded and left alone), the hostname (cc_set_hostname's precedence), `write_files`
 * (with its encodings, `append` and `defer`) and `runcmd` (turned into shell lines).
 *
 * Pure: it returns what cloud-init would do; `sim/os/index.ts` does it. Whatever it does not act on is listed
 * in `ignored`, with the reason, as cloud-init logs what it skips.
 */
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { JinjaSyntaxError, JinjaUndefinedError, missingVariables, renderJinja } from './jinja.ts';

/** The files of a config drive (`openstack/latest/`), as read from the `config-2` filesystem. */
export interface ConfigDriveFiles {
  /** meta_data.json, parsed. */
  metaData: Record<string, unknown>;
  /** user_data, raw (absent when the drive has none). */
  userData?: string;
  /** network_data.json, parsed (absent when the drive has none). */
  networkData?: Record<string, unknown>;
}

/** Facts about the machine that the instance data carries. */
export interface MachineFacts {
  /** The device the config drive was found on, for `v1.subplatform`. */
  configDriveDevice: string;
  /** The hostname the image boots with before cloud-init sets one. */
  defaultHostname?: string;
}

/** A file `write_files` writes. */
export interface WrittenFile {
  path: string;
  content: string;
  permissions?: string;
  owner?: string;
}

/** One thing cloud-init saw and the simulation did not act on. */
export interface Ignored {
  item: string;
  reason: string;
}

export type UserDataFormat =
  | 'none'
  | 'cloud-config'
  | 'jinja cloud-config'
  | 'shell script'
  | 'jinja shell script'
  | 'ignition'
  | 'mime multipart'
  | 'unknown';

/** What cloud-init does on the first boot of an instance. */
export interface CloudInitPlan {
  /** The instance id (meta_data.json `uuid`): cloud-init runs per-instance modules once per id. */
  instanceId: string;
  hostname: string;
  format: UserDataFormat;
  /** The user data after Jinja rendering (what cloud-init parses). */
  rendered?: string;
  files: WrittenFile[];
  /** runcmd, as shell lines, in order. */
  commands: string[];
  ignored: Ignored[];
  warnings: string[];
}

/** Why cloud-init found no usable datasource (it then sets nothing up). */
export class DatasourceError extends Error {
  override readonly name = 'DatasourceError';
}

/** Where the ConfigDrive datasource reads an OpenStack config drive (Ironic writes `openstack/latest/`). */
const CONFIG_DRIVE_DIR = 'openstack/latest';

/**
 * The ConfigDrive datasource's read of a `config-2` volume's files (by path, as `readConfigDrive` in
 * `sim/ramdisk.ts` returns them from the disk): `meta_data.json` (required, a JSON object), `user_data`
 * (optional, raw) and `network_data.json` (optional). Throws DatasourceError when cloud-init would find no
 * usable datasource there.
 */
export function readConfigDriveFiles(files: Readonly<Record<string, Buffer>>): ConfigDriveFiles {
  const json = (name: string): Record<string, unknown> | undefined => {
    const bytes = files[`${CONFIG_DRIVE_DIR}/${name}`];
    if (bytes === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new DatasourceError(`${CONFIG_DRIVE_DIR}/${name} is not JSON: ${(err as Error).message}`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new DatasourceError(`${CONFIG_DRIVE_DIR}/${name} is not a JSON object`);
    return parsed as Record<string, unknown>;
  };
  const metaData = json('meta_data.json');
  if (!metaData) throw new DatasourceError(`the config drive has no ${CONFIG_DRIVE_DIR}/meta_data.json`);
  const userData = files[`${CONFIG_DRIVE_DIR}/user_data`];
  const networkData = json('network_data.json');
  return {
    metaData,
    ...(userData !== undefined ? { userData: userData.toString('utf8') } : {}),
    ...(networkData ? { networkData } : {}),
  };
}

/** The cloud-config keys the simulation acts on; every other key is recorded as ignored. */
const UNDERSTOOD_KEYS = new Set([
  'hostname',
  'fqdn',
  'preserve_hostname',
  'prefer_fqdn_over_hostname',
  'write_files',
  'runcmd',
  'manage_etc_hosts',
]);

/** The datasource's metadata: meta_data.json plus the OpenStack reader's key copies. */
export function datasourceMetadata(metaData: Record<string, unknown>): Record<string, unknown> {
  if (metaData.uuid === undefined)
    throw new DatasourceError("meta_data.json has no 'uuid' entry (the ConfigDrive datasource requires it)");
  const md = structuredClone(metaData);
  if ('hostname' in md) md['local-hostname'] = md.hostname;
  md['instance-id'] = md.uuid;
  return md;
}

/** instance-data.json as cloud-init writes it for a config drive (the parts templates use). */
export function instanceData(drive: ConfigDriveFiles, facts: MachineFacts): Record<string, unknown> {
  const md = datasourceMetadata(drive.metaData);
  const keys =
    md.public_keys && typeof md.public_keys === 'object'
      ? Object.values(md.public_keys as Record<string, unknown>)
      : [];
  return {
    ds: {
      _doc:
        "EXPERIMENTAL: The structure and format of content scoped under the 'ds' key may change in subsequent " +
        'releases of cloud-init.',
      meta_data: md,
      network_json: drive.networkData ?? {},
      ec2_metadata: {},
    },
    v1: {
      availability_zone: md.availability_zone ?? null,
      cloud_id: 'configdrive',
      cloud_name: 'configdrive',
      instance_id: String(md['instance-id']),
      local_hostname: String(md['local-hostname'] ?? facts.defaultHostname ?? 'localhost'),
      machine: 'x86_64',
      platform: 'openstack',
      public_ssh_keys: keys,
      region: null,
      subplatform: `config-disk (${facts.configDriveDevice})`,
    },
  };
}

/**
 * The variables a Jinja template sees (cloud-init's convert_jinja_instance_data with key aliases): `v1` keys
 * also at the top level, and every key containing `-` or `.` also under a name with `_`.
 */
export function jinjaVariables(data: Record<string, unknown>): Record<string, unknown> {
  const convert = (value: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = value[key];
      out[key] = v && typeof v === 'object' && !Array.isArray(v) ? convert(v as Record<string, unknown>) : v;
      if (/^v\d+$/.test(key) && v && typeof v === 'object') Object.assign(out, structuredClone(out[key]));
      const alias = key.replace(/[-.]/g, '_');
      if (alias !== key) out[alias] = structuredClone(out[key]);
    }
    return out;
  };
  return convert(data);
}

function formatOf(text: string): UserDataFormat {
  const start = text.trimStart();
  if (start.startsWith('#cloud-config')) return 'cloud-config';
  if (start.startsWith('#!')) return 'shell script';
  if (/^content-type:\s*multipart\//im.test(start.slice(0, 200)) || start.startsWith('MIME-Version'))
    return 'mime multipart';
  if (start.startsWith('{') && /"ignition"/.test(start)) return 'ignition';
  return 'unknown';
}

/** Decodes a write_files entry's content by its `encoding` (cloud-init's accepted spellings). */
function decodeContent(content: string, encoding: string | undefined): string {
  const enc = (encoding ?? 'text/plain').toLowerCase();
  if (['b64', 'base64'].includes(enc)) return Buffer.from(content, 'base64').toString('utf8');
  if (['gz', 'gzip'].includes(enc)) return gunzipSync(Buffer.from(content, 'latin1')).toString('utf8');
  if (['gz+b64', 'gz+base64', 'gzip+b64', 'gzip+base64'].includes(enc))
    return gunzipSync(Buffer.from(content, 'base64')).toString('utf8');
  return content;
}

/** A runcmd entry as the shell line cloud-init writes into its runcmd script. */
function shellLine(entry: unknown): string {
  if (Array.isArray(entry)) return entry.map((arg) => `'${String(arg).replace(/'/g, "'\\''")}'`).join(' ');
  return String(entry);
}

/** Plans the first boot of an instance from its config drive; throws DatasourceError when cloud-init finds none. */
export function planFirstBoot(drive: ConfigDriveFiles, facts: MachineFacts): CloudInitPlan {
  const data = instanceData(drive, facts);
  const v1 = data.v1 as { instance_id: string; local_hostname: string };
  const plan: CloudInitPlan = {
    instanceId: v1.instance_id,
    hostname: shortName(v1.local_hostname),
    format: 'none',
    files: [],
    commands: [],
    ignored: [],
    warnings: [],
  };
  let text = drive.userData ?? '';
  if (text.trim() === '') return plan;

  let jinja = false;
  const firstLine = text.split('\n', 1)[0] ?? '';
  if (/^##\s*template:/i.test(firstLine)) {
    const kind = firstLine
      .replace(/^##\s*template:/i, '')
      .trim()
      .toLowerCase();
    if (kind !== 'jinja') {
      plan.format = 'unknown';
      plan.ignored.push({
        item: `user data template '${kind}'`,
        reason: 'cloud-init renders only jinja and basic templates',
      });
      return plan;
    }
    jinja = true;
    try {
      text = renderJinja(text.slice(firstLine.length + 1), jinjaVariables(data));
    } catch (err) {
      if (err instanceof JinjaSyntaxError || err instanceof JinjaUndefinedError) {
        plan.format = 'unknown';
        plan.ignored.push({
          item: 'the jinja user data',
          reason: `cloud-init ignores a template it cannot render: ${err.message}`,
        });
        return plan;
      }
      throw err;
    }
    for (const name of missingVariables(text)) plan.warnings.push(`Could not render jinja template variable '${name}'`);
  }
  plan.rendered = text;
  const format = formatOf(text);
  if (format !== 'cloud-config') {
    plan.format = format === 'shell script' && jinja ? 'jinja shell script' : format;
    plan.ignored.push({
      item: `user data (${plan.format})`,
      reason: 'the simulated OS follows only #cloud-config user data',
    });
    return plan;
  }
  plan.format = jinja ? 'jinja cloud-config' : 'cloud-config';

  let config: Record<string, unknown>;
  try {
    const parsed: unknown = parseYaml(text);
    config = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch (err) {
    plan.ignored.push({
      item: 'the cloud-config',
      reason: `it is not valid YAML: ${(err as Error).message.split('\n', 1)[0]}`,
    });
    return plan;
  }

  for (const key of Object.keys(config)) {
    if (!UNDERSTOOD_KEYS.has(key)) plan.ignored.push({ item: `cloud-config '${key}'`, reason: 'not simulated' });
  }
  plan.hostname = hostnameOf(config, v1.local_hostname, facts.defaultHostname ?? 'localhost');
  plan.files = writeFiles(config.write_files, plan.ignored);
  if (config.runcmd !== undefined) {
    if (Array.isArray(config.runcmd)) plan.commands = config.runcmd.map(shellLine);
    else plan.ignored.push({ item: "cloud-config 'runcmd'", reason: 'it is not a list' });
  }
  return plan;
}

function shortName(name: string): string {
  return name.split('.', 1)[0] ?? name;
}

/** cc_set_hostname: preserve_hostname wins, then fqdn, then hostname, then the metadata's local-hostname. */
function hostnameOf(config: Record<string, unknown>, metadataHostname: string, defaultHostname: string): string {
  if (config.preserve_hostname === true) return defaultHostname;
  const preferFqdn = config.prefer_fqdn_over_hostname === true;
  let hostname: string;
  let fqdn: string | undefined;
  if (typeof config.fqdn === 'string') {
    fqdn = config.fqdn;
    hostname = typeof config.hostname === 'string' ? config.hostname : shortName(config.fqdn);
  } else if (typeof config.hostname === 'string') {
    if (config.hostname.includes('.')) {
      fqdn = config.hostname;
      hostname = shortName(config.hostname);
    } else {
      hostname = config.hostname;
    }
  } else {
    fqdn = metadataHostname.includes('.') ? metadataHostname : undefined;
    hostname = shortName(metadataHostname);
  }
  return preferFqdn && fqdn ? fqdn : hostname;
}

function writeFiles(entries: unknown, ignored: Ignored[]): WrittenFile[] {
  if (entries === undefined) return [];
  if (!Array.isArray(entries)) {
    ignored.push({ item: "cloud-config 'write_files'", reason: 'it is not a list' });
    return [];
  }
  const files = new Map<string, WrittenFile>();
  // Deferred files are written in the final stage, after the others and before runcmd's script runs.
  const ordered = [
    ...entries.filter((e) => !(e as { defer?: boolean })?.defer),
    ...entries.filter((e) => (e as { defer?: boolean })?.defer),
  ];
  for (const entry of ordered) {
    const e = entry as {
      path?: unknown;
      content?: unknown;
      encoding?: string;
      permissions?: unknown;
      owner?: unknown;
      append?: boolean;
    };
    if (typeof e?.path !== 'string') {
      ignored.push({ item: 'a write_files entry', reason: 'it has no path' });
      continue;
    }
    let content: string;
    try {
      content = decodeContent(e.content === undefined || e.content === null ? '' : String(e.content), e.encoding);
    } catch (err) {
      ignored.push({
        item: `write_files ${e.path}`,
        reason: `its content cannot be decoded as ${e.encoding}: ${(err as Error).message}`,
      });
      continue;
    }
    const previous = files.get(e.path);
    files.set(e.path, {
      path: e.path,
      content: e.append && previous ? previous.content + content : content,
      ...(e.permissions !== undefined ? { permissions: String(e.permissions) } : {}),
      ...(e.owner !== undefined ? { owner: String(e.owner) } : {}),
    });
  }
  return [...files.values()];
}

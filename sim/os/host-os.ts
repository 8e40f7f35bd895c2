/**
 * The OS side of one simulated host, for the simulator to drive from power and boot events: it boots the OS
 * when the host comes up from its disk, cuts it when the host loses power, forgets what the OS kept when a
 * deploy writes a new image, and keeps the record of every boot (what cloud-init did, ignored and joined) for
 * the simulator's control API. Its switches (`configure`) are the simulator's OS switches, e.g. never-join.
 */
import {
  DEFAULT_OS_SETTINGS,
  bootOs,
  type ClusterCredentials,
  type ConfigDriveFiles,
  type OsDiskState,
  type OsHardware,
  type OsRecord,
  type OsSettings,
  type RunningOs,
} from './index.ts';
import { DatasourceError, readConfigDriveFiles } from './cloud-init.ts';
import type { NodeCredential } from './credential.ts';

/** Credentials the simulation holds for workload clusters, by apiserver URL. */
export class CredentialStore implements ClusterCredentials {
  private readonly byServer = new Map<string, NodeCredential>();

  /** Holds (or replaces) the credential for `credential.server`. */
  hold(credential: NodeCredential): void {
    this.byServer.set(new URL(credential.server).origin, credential);
  }

  forget(server: string): void {
    this.byServer.delete(new URL(server).origin);
  }

  forServer(server: string): NodeCredential | undefined {
    try {
      return this.byServer.get(new URL(server).origin);
    } catch {
      return undefined;
    }
  }
}

export interface HostOsOptions {
  hostId: string;
  hardware: () => OsHardware;
  clusters: ClusterCredentials;
  log?: (line: string) => void;
  settings?: Partial<OsSettings>;
}

/** How many boot records a host keeps (the oldest go first). */
const MAX_RECORDS = 20;

export class HostOs {
  private settings: OsSettings;
  private disk: OsDiskState = {};
  /** What the disk held when the OS last booted from it (`bootFromDisk`). */
  private installation: string | undefined;
  private running: RunningOs | undefined;
  private readonly records: OsRecord[] = [];
  private readonly options: HostOsOptions;

  constructor(options: HostOsOptions) {
    this.options = options;
    this.settings = { ...DEFAULT_OS_SETTINGS, ...options.settings };
  }

  /** Changes the OS switches (partial) and returns them; with no argument, reads them. */
  configure(patch?: Partial<OsSettings>): OsSettings {
    if (patch) this.settings = { ...this.settings, ...patch };
    return { ...this.settings };
  }

  /**
   * The host came up from a disk: the OS boots with the files of the config drive found there, read as the
   * ConfigDrive datasource reads them (null: no `config-2` volume). `installation` names what is on the disk
   * (the image written, its partitions): a new one is a new OS, with nothing kept from the old one.
   */
  bootFromDisk(
    files: Readonly<Record<string, Buffer>> | null,
    configDriveDevice: string,
    installation: string,
  ): RunningOs {
    if (installation !== this.installation) {
      this.diskWritten();
      this.installation = installation;
    }
    let drive: ConfigDriveFiles | null = null;
    let datasourceError: string | undefined;
    try {
      drive = files ? readConfigDriveFiles(files) : null;
    } catch (err) {
      if (!(err instanceof DatasourceError)) throw err;
      datasourceError = err.message;
    }
    return this.boot(drive, configDriveDevice, datasourceError);
  }

  /** The host came up from its disk: the OS boots with the config drive found there (null: none). */
  boot(configDrive: ConfigDriveFiles | null, configDriveDevice: string, datasourceError?: string): RunningOs {
    this.running?.stop();
    const log = this.options.log ?? (() => {});
    this.running = bootOs({
      hostId: this.options.hostId,
      configDrive,
      configDriveDevice,
      ...(datasourceError ? { datasourceError } : {}),
      hardware: this.options.hardware(),
      settings: this.settings,
      clusters: this.options.clusters,
      disk: this.disk,
      log: (line) => log(`${this.options.hostId}: ${line}`),
    });
    this.records.push(this.running.record);
    if (this.records.length > MAX_RECORDS) this.records.shift();
    return this.running;
  }

  /** The host lost power or was reset: the OS stops where it is. */
  powerOff(): void {
    this.running?.stop();
    this.running = undefined;
  }

  /** A deploy wrote the disk: the installed OS and what it kept are gone. */
  diskWritten(): void {
    this.powerOff();
    this.disk = {};
  }

  /** The OS running now, if any. */
  current(): RunningOs | undefined {
    return this.running;
  }

  /** Copies of the boot records, oldest first. */
  history(): OsRecord[] {
    return structuredClone(this.records);
  }
}

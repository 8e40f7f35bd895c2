/**
 * ironic-python-agent's errors as the simulated agent reports them: a FAILED command's `command_error` is
 * `{type, code, message, details}` with IPA's class name, status code, fixed message and a details text built
 * the way IPA builds it (`ironic_python_agent/errors.py`), so the engine's error mapping is tested against the
 * shapes a real agent sends. Fault injection picks one of the presets by type.
 */

/** The serialized form of an IPA error. */
export interface IpaErrorBody {
  type: string;
  code: number;
  message: string;
  details: string;
}

/** An IPA error thrown by a command; serialized into `command_error` or an HTTP fault. */
export class IpaError extends Error {
  readonly type: string;
  readonly code: number;
  readonly details: string;
  /** The fixed message of the error class (IPA's `message`). */
  readonly ipaMessage: string;

  constructor(type: string, code: number, message: string, details: string) {
    super(`${message}: ${details}`);
    this.name = type;
    this.type = type;
    this.code = code;
    this.ipaMessage = message;
    this.details = details;
  }

  /** The `command_error` object. */
  toJSON(): IpaErrorBody {
    return { type: this.type, code: this.code, message: this.ipaMessage, details: this.details };
  }

  /** The WSME-style fault body IPA's API answers with on HTTP errors. */
  fault(): { faultcode: 'Client' | 'Server'; faultstring: string } {
    return { faultcode: this.code >= 500 ? 'Server' : 'Client', faultstring: this.message };
  }
}

/** Constructors for the errors the simulated agent raises, with IPA's messages and details formats. */
export const ipaErrors = {
  imageDownload: (imageId: string, reason: string) =>
    new IpaError(
      'ImageDownloadError',
      500,
      'Error downloading image',
      `Download of image ${imageId} failed: ${reason}`,
    ),
  imageChecksum: (location: string, imageId: string, expected: string, actual: string) =>
    new IpaError(
      'ImageChecksumError',
      500,
      'Error verifying image checksum',
      `Image failed to verify against checksum. location: ${location}; image ID: ${imageId}; image checksum: ` +
        `${expected}; verification checksum: ${actual}`,
    ),
  imageWrite: (device: string, exitCode: number, stdout: string, stderr: string) =>
    new IpaError(
      'ImageWriteError',
      500,
      'Error writing image to device',
      `Writing image to device ${device} failed with exit code ${exitCode}. stdout: ${stdout}. stderr: ${stderr}`,
    ),
  invalidImage: (details: string) =>
    new IpaError('InvalidImage', 500, 'The provided image is not valid for use', details),
  deviceNotFound: (details: string) =>
    new IpaError('DeviceNotFound', 404, 'Error finding the disk or partition device to deploy the image onto', details),
  deployment: (details: string) => new IpaError('DeploymentError', 500, 'Deploy step failed', details),
  cleaning: (details: string) => new IpaError('CleaningError', 500, 'Clean step failed', details),
  softwareRaid: (details: string) =>
    new IpaError('SoftwareRAIDError', 500, 'Software RAID caused unknown error', details),
  blockDeviceErase: (details: string) =>
    new IpaError('BlockDeviceEraseError', 500, 'Error erasing block device', details),
  commandExecution: (details: string) =>
    new IpaError('CommandExecutionError', 500, 'Command execution failed', details),
  invalidCommand: (details: string) => new IpaError('InvalidCommandError', 400, 'Invalid command', details),
  invalidParams: (details: string) =>
    new IpaError('InvalidCommandParamsError', 400, 'Invalid command parameters', details),
  notFound: (what: string, id: string) =>
    new IpaError('RequestedObjectNotFoundError', 404, 'Not found', `${what} with id ${id} not found.`),
  busy: (command: string) => new IpaError('AgentIsBusy', 409, 'Agent is busy', `executing command ${command}`),
  methodNotFound: (method: string) =>
    new IpaError(
      'HardwareManagerMethodNotFound',
      500,
      'No HardwareManager found to handle method',
      `Could not find method: ${method}`,
    ),
  versionMismatch: (agent: Record<string, string>, node: unknown) =>
    new IpaError(
      'VersionMismatch',
      409,
      'Hardware managers version mismatch, reload agent with correct version',
      `Current versions: ${JSON.stringify(agent)}, versions used by ironic: ${JSON.stringify(node)}`,
    ),
} as const;

/** Error types a test can inject by name, with a plausible details text. */
export const INJECTABLE_ERRORS = {
  ImageDownloadError: () =>
    ipaErrors.imageDownload(
      'injected',
      'Received status code 503 from the image server, expected 200 (fault injected by the simulator)',
    ),
  ImageChecksumError: () =>
    ipaErrors.imageChecksum('/tmp/injected', 'injected', 'expected-checksum', 'calculated-checksum'),
  ImageWriteError: () => ipaErrors.imageWrite('/dev/sda', 1, '', 'write error (fault injected by the simulator)'),
  InvalidImage: () => ipaErrors.invalidImage('Security: Image failed safety check (fault injected by the simulator)'),
  DeviceNotFound: () =>
    ipaErrors.deviceNotFound('No suitable device was found for deployment (fault injected by the simulator)'),
  DeploymentError: () => ipaErrors.deployment('fault injected by the simulator'),
  CleaningError: () => ipaErrors.cleaning('fault injected by the simulator'),
  BlockDeviceEraseError: () =>
    ipaErrors.blockDeviceErase('Failed to erase the metadata on the device(s): fault injected by the simulator'),
  CommandExecutionError: () => ipaErrors.commandExecution('fault injected by the simulator'),
} as const;

/** The name of an injectable error type. */
export type InjectableError = keyof typeof INJECTABLE_ERRORS;

/** An error to inject: a preset by type, or a full body (type, code, message, details). */
export type InjectedError = InjectableError | IpaErrorBody;

/** The IpaError an injection produces. */
export function injectedError(spec: InjectedError): IpaError {
  if (typeof spec === 'string') {
    const make = INJECTABLE_ERRORS[spec];
    if (!make) throw new Error(`unknown IPA error type '${spec}'; known: ${Object.keys(INJECTABLE_ERRORS).join(', ')}`);
    return make();
  }
  return new IpaError(spec.type, spec.code, spec.message, spec.details);
}

/**
 * Images, on the activity side: the checks the engine makes before it boots a deploy ramdisk (`resolveImage`,
 * and `checkImageUrl` for a live ISO), the host's config drive built from its Secrets (`buildConfigDrive`), and
 * the deploy ISO remastered with the agent's kernel parameters (`buildDeployIso`, `buildStandInIpaIso` for the
 * local stack). The agent downloads and writes the image itself (lib/image-stream.ts for the simulated one).
 */
export { checkImageUrl, fetchText, httpUrl, probeUrl, type ProbeOptions, type ProbeResult } from './probe.ts';
export { resolveImage } from './resolve.ts';
export {
  buildConfigDrive,
  configDriveFiles,
  kubeSecretReader,
  readHostConfigData,
  type ConfigDrive,
  type ConfigDriveRequest,
  type HostConfigData,
  type SecretReader,
  type SecretRef,
} from './config-drive.ts';
export {
  buildDeployIso,
  buildStandInIpaIso,
  STAND_IN_IPA_VERSION,
  type DeployIsoRequest,
  type DeployIsoResult,
  type KernelParams,
} from './deploy-iso.ts';
export { toImageFailure, withImageFailures, type ImageFailureDetails } from './failure.ts';

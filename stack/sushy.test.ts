import { describe, expect, it } from 'vitest';
import { countSushyRequests } from './sushy.ts';

const E = '\x1b';
// Lines as sushy-tools 2.2.0 (werkzeug) wrote them during `npm run bench -- fleet --bmc sushy`.
const LOG = [
  " * Serving Flask app 'sushy_tools.emulator.main'",
  ` ${E}[31m${E}[1mWARNING: This is a development server. Do not use it in a production deployment.${E}[0m`,
  ' * Running on http://127.0.0.1:40935',
  `${E}[33mPress CTRL+C to quit${E}[0m`,
  '127.0.0.1 - - [05/Dec/2026 09:37:04] "GET /redfish/v1/ HTTP/1.1" 200 -',
  '127.0.0.1 - - [05/Dec/2026 09:37:15] "GET /redfish/v1/Systems/5a5b0000-9fe7-4000-8000-000000000010 HTTP/1.1" 200 -',
  `127.0.0.1 - - [05/Dec/2026 09:37:19] "${E}[33mGET /redfish/v1/Systems/5a5b0000-9fe7-4000-8000-00000000001c/Memory HTTP/1.1${E}[0m" 404 -`,
  `127.0.0.1 - - [05/Dec/2026 09:37:19] "${E}[35m${E}[1mGET /redfish/v1/Systems/5a5b0000-9fe7-4000-8000-00000000001c/Storage HTTP/1.1${E}[0m" 500 -`,
  `127.0.0.1 - - [05/Dec/2026 09:37:24] "${E}[35m${E}[1mPOST /redfish/v1/Systems/5a5b0000-9fe7-4000-8000-00000000001c/VirtualMedia/Cd/Actions/VirtualMedia.InsertMedia HTTP/1.1${E}[0m" 204 -`,
  `127.0.0.1 - - [05/Dec/2026 09:37:24] "${E}[35m${E}[1mPATCH /redfish/v1/Systems/5a5b0000-9fe7-4000-8000-00000000001c HTTP/1.1${E}[0m" 204 -`,
  '',
].join('\n');

describe('countSushyRequests', () => {
  it('counts every request line, the coloured ones (POST, PATCH, 4xx, 5xx) too, and nothing else', () => {
    expect(countSushyRequests(LOG)).toBe(6);
  });

  it('counts none in a log with no request', () => {
    expect(countSushyRequests(LOG.split('\n').slice(0, 4).join('\n'))).toBe(0);
  });
});

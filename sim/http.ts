/**
 * HTTP plumbing shared by the simulator's endpoints: Redfish error bodies (Base message registry), replies,
 * ETags, request bodies, JSON rewriting.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Json, JsonObject } from './tree.ts';

/** What a handler answers. `destroy` drops the connection without a response (a reset). */
export interface Reply {
  status: number;
  body?: Json | Buffer;
  headers?: Record<string, string>;
  destroy?: boolean;
}

/** An error answered as a Redfish error body. Handlers throw it; the endpoint turns it into a reply. */
export class RedfishError extends Error {
  readonly status: number;
  readonly messageId: string;
  readonly args: readonly string[];
  readonly related: readonly string[];
  readonly headers: Record<string, string>;
  /** Further problems of the same request, answered together (a PATCH with several bad properties). */
  readonly more: readonly RedfishError[];

  constructor(
    status: number,
    messageId: string,
    message: string,
    options: { args?: string[]; related?: string[]; headers?: Record<string, string>; more?: RedfishError[] } = {},
  ) {
    super(message);
    this.status = status;
    this.messageId = messageId;
    this.args = options.args ?? [];
    this.related = options.related ?? [];
    this.headers = options.headers ?? {};
    this.more = options.more ?? [];
  }

  /** One `@Message.ExtendedInfo` entry. */
  private info(): JsonObject {
    const severity = this.status >= 500 ? 'Critical' : 'Warning';
    const info: JsonObject = {
      '@odata.type': '#Message.v1_1_1.Message',
      MessageId: this.messageId,
      Message: this.message,
      MessageArgs: [...this.args],
      Severity: severity,
      MessageSeverity: severity,
      Resolution: 'See the message and retry or change the request.',
    };
    if (this.related.length > 0) info['RelatedProperties'] = [...this.related];
    return info;
  }

  /** The reply for this error (and the further ones it carries). */
  reply(): Reply {
    const infos = [this, ...this.more].map((error) => error.info());
    return {
      status: this.status,
      headers: this.headers,
      body: { error: { code: this.messageId, message: this.message, '@Message.ExtendedInfo': infos } },
    };
  }
}

const BASE = 'Base.1.5';

/** Errors from the Base registry used across the simulator. */
export const errors = {
  notFound: (uri: string) =>
    new RedfishError(404, `${BASE}.ResourceMissingAtURI`, `The resource at the URI ${uri} was not found.`, { args: [uri] }),
  methodNotAllowed: (method: string, uri: string, allow: string) =>
    new RedfishError(405, `${BASE}.OperationNotAllowed`, `The HTTP method ${method} is not allowed on ${uri}.`, {
      args: [method, uri],
      headers: { Allow: allow },
    }),
  noValidSession: (realm: string) =>
    new RedfishError(401, `${BASE}.NoValidSession`, 'There is no valid session established with the implementation.', {
      headers: { 'WWW-Authenticate': `Basic realm="${realm}"` },
    }),
  insufficientPrivilege: () =>
    new RedfishError(
      403,
      `${BASE}.InsufficientPrivilege`,
      'There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.',
    ),
  actionNotSupported: (action: string) =>
    new RedfishError(501, `${BASE}.ActionNotSupported`, `The action ${action} is not supported by the resource.`, { args: [action] }),
  malformedJson: () =>
    new RedfishError(400, `${BASE}.MalformedJSON`, 'The request body submitted was malformed JSON and could not be parsed by the receiving service.'),
  propertyUnknown: (name: string) =>
    new RedfishError(400, `${BASE}.PropertyUnknown`, `The property ${name} is not in the list of valid properties for the resource.`, {
      args: [name],
      related: [`#/${name}`],
    }),
  propertyNotWritable: (name: string) =>
    new RedfishError(400, `${BASE}.PropertyNotWritable`, `The property ${name} is a read only property and cannot be assigned a value.`, {
      args: [name],
      related: [`#/${name}`],
    }),
  propertyValueNotInList: (value: string, name: string) =>
    new RedfishError(400, `${BASE}.PropertyValueNotInList`, `The value ${value} for the property ${name} is not in the list of acceptable values.`, {
      args: [value, name],
      related: [`#/${name}`],
    }),
  propertyValueTypeError: (value: string, name: string) =>
    new RedfishError(400, `${BASE}.PropertyValueTypeError`, `The value ${value} for the property ${name} is of a different type than the property can accept.`, {
      args: [value, name],
      related: [`#/${name}`],
    }),
  propertyMissing: (name: string) =>
    new RedfishError(400, `${BASE}.PropertyMissing`, `The property ${name} is a required property and must be included in the request.`, {
      args: [name],
      related: [`#/${name}`],
    }),
  actionParameterMissing: (action: string, name: string) =>
    new RedfishError(400, `${BASE}.ActionParameterMissing`, `The action ${action} requires the parameter ${name} to be present in the request body.`, {
      args: [action, name],
      related: [`#/${name}`],
    }),
  actionParameterNotSupported: (name: string, action: string) =>
    new RedfishError(400, `${BASE}.ActionParameterNotSupported`, `The parameter ${name} for the action ${action} is not supported on the target resource.`, {
      args: [name, action],
    }),
  actionParameterValueNotInList: (value: string, name: string, action: string) =>
    new RedfishError(
      400,
      `${BASE}.ActionParameterValueNotInList`,
      `The value ${value} for the parameter ${name} in the action ${action} is not in the list of acceptable values.`,
      { args: [value, name, action], related: [`#/${name}`] },
    ),
  actionParameterUnknown: (action: string, name: string) =>
    new RedfishError(400, `${BASE}.ActionParameterUnknown`, `The action ${action} was submitted with the invalid parameter ${name}.`, {
      args: [action, name],
    }),
  preconditionFailed: () =>
    new RedfishError(412, `${BASE}.PreconditionFailed`, 'The ETag supplied did not match the ETag required to change this resource.'),
  preconditionRequired: () =>
    new RedfishError(428, `${BASE}.PreconditionRequired`, 'A precondition header or annotation is required to change this resource.'),
  couldNotConnect: (uri: string) =>
    new RedfishError(400, `${BASE}.CouldNotEstablishConnection`, `The service failed to establish a connection with the URI ${uri}.`, {
      args: [uri],
    }),
  remoteMissing: (uri: string, status: number) =>
    new RedfishError(400, `${BASE}.ResourceAtUriUnauthorized`, `While accessing the resource at ${uri}, the service received an error ${status}.`, {
      args: [uri, String(status)],
    }),
  unavailable: (seconds: number) =>
    new RedfishError(503, `${BASE}.ServiceTemporarilyUnavailable`, `The service is temporarily unavailable.  Retry in ${seconds} seconds.`, {
      args: [String(seconds)],
      headers: { 'Retry-After': String(seconds) },
    }),
  internal: () => new RedfishError(500, `${BASE}.InternalError`, 'The request failed due to an internal service error.  The service is still operational.'),
  resourceInUse: () =>
    new RedfishError(409, `${BASE}.ResourceInUse`, 'The change to the requested resource failed because the resource is in use or in transition.'),
};

/** A strong ETag for a rendered resource: a short hash of its JSON text. */
export function etagOf(text: string): string {
  return `"${createHash('sha1').update(text).digest('hex').slice(0, 16)}"`;
}

/** The opaque part of an ETag, without `W/` and quotes. */
export function etagValue(tag: string): string {
  return tag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** Reads a request body up to `limit` bytes. */
export async function readBody(request: IncomingMessage, limit = 512 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw new RedfishError(413, `${BASE}.GeneralError`, 'The request body is too large.');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON request body; an empty body is `undefined`. Throws MalformedJSON. */
export function parseJsonBody(body: Buffer): JsonObject | undefined {
  if (body.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw errors.malformedJson();
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw errors.malformedJson();
  return parsed as JsonObject;
}

/** Copies a JSON value, rewriting every string with `map`. */
export function mapStrings(value: Json, map: (text: string) => string): Json {
  if (typeof value === 'string') return map(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, map));
  if (value && typeof value === 'object') {
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) out[key] = mapStrings(item, map);
    return out;
  }
  return value;
}

// Bearer tokens for devices: one token per device id and/or one shared token, read from a JSON
// file, compared in constant time. Tokens travel in the hello frame (browsers cannot set headers).
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { EdgesplitError } from '../shared/errors.ts';

/** Which tokens the server accepts. A device listed in `devices` must present its own token; others the shared one. */
export interface TokenConfig {
  devices?: Record<string, string>;
  shared?: string;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Check a hello's token; throws ERR_UNAUTHORIZED saying what is wrong without echoing any token. */
export function checkToken(config: TokenConfig, deviceId: string, token: string | undefined): void {
  const own = config.devices && Object.prototype.hasOwnProperty.call(config.devices, deviceId) ? config.devices[deviceId] : undefined;
  const expected = own ?? config.shared;
  if (expected === undefined) {
    throw new EdgesplitError('ERR_UNAUTHORIZED', `device '${deviceId}' has no token on this server. Add it to the server's --tokens file.`);
  }
  if (token === undefined) {
    throw new EdgesplitError('ERR_UNAUTHORIZED', `device '${deviceId}' sent no token, and this server requires one. Put the device's token in its hello (device runtime option token).`);
  }
  if (!timingSafeEqual(digest(token), digest(expected))) {
    throw new EdgesplitError('ERR_UNAUTHORIZED', `wrong token for device '${deviceId}'. Check the token the device was given against the server's --tokens file.`);
  }
}

/**
 * Read a tokens file: `{ "devices": { "<deviceId>": "<token>", ... }, "shared": "<token>" }`
 * (either key may be left out, not both). Throws ERR_FILE_NOT_FOUND, ERR_FILE_READ or ERR_USAGE.
 */
export async function loadTokens(path: string): Promise<TokenConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const missing = typeof cause === 'object' && cause !== null && 'code' in cause && cause.code === 'ENOENT';
    throw new EdgesplitError(missing ? 'ERR_FILE_NOT_FOUND' : 'ERR_FILE_READ', `could not read the tokens file ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  const bad = (why: string): EdgesplitError => new EdgesplitError('ERR_USAGE', `tokens file ${path}: ${why}. Expected { "devices": { "<deviceId>": "<token>" }, "shared": "<token>" }.`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw bad('not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('expected a JSON object');
  const config: TokenConfig = {};
  for (const [key, value] of Object.entries(json)) {
    if (key === 'shared') {
      if (typeof value !== 'string' || value.length < 8) throw bad('"shared" must be a string of at least 8 characters');
      config.shared = value;
    } else if (key === 'devices') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('"devices" must be an object of deviceId to token');
      const devices: Record<string, string> = {};
      for (const [id, token] of Object.entries(value)) {
        if (typeof token !== 'string' || token.length < 8) throw bad(`the token of device "${id}" must be a string of at least 8 characters`);
        devices[id] = token;
      }
      config.devices = devices;
    } else {
      throw bad(`unknown key "${key}"`);
    }
  }
  if (config.shared === undefined && (config.devices === undefined || Object.keys(config.devices).length === 0)) throw bad('no token in it');
  return config;
}

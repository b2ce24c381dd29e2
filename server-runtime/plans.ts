// Loads plan directories for the server: validates plan.json against the shared schema and checks
// the server half's sha256 before any session is made from it.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { EdgesplitError } from '../shared/errors.ts';
import { type PlanManifest, maxFrameBytes, validatePlan } from '../shared/plan.ts';

/** A plan ready to serve: its manifest, where it lives, and the verified bytes of its server half. */
export interface LoadedPlan {
  manifest: PlanManifest;
  /** The plan directory (absolute). */
  dir: string;
  /** The plan.json path (absolute). */
  planPath: string;
  /** server.onnx bytes, whose sha256 equals `manifest.server.sha256`. */
  serverModel: Uint8Array;
  /** Frames larger than this are refused on connections of this plan. */
  maxFrameBytes: number;
}

async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (cause) {
    const code = typeof cause === 'object' && cause !== null && 'code' in cause ? cause.code : undefined;
    if (code === 'ENOENT') throw new EdgesplitError('ERR_FILE_NOT_FOUND', `${what} not found: ${path}. Pass the plan directory written by 'edgesplit plan' (or its plan.json).`, { cause });
    throw new EdgesplitError('ERR_FILE_READ', `could not read ${what} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * Load one plan from a plan directory or a plan.json path: parse and validate plan.json
 * (ERR_PLAN_INVALID, ERR_PLAN_VERSION), read the server half and check its sha256 (ERR_PLAN_HASH).
 */
export async function loadPlan(dirOrPlanJson: string): Promise<LoadedPlan> {
  const given = resolve(dirOrPlanJson);
  let planPath = given;
  try {
    if ((await stat(given)).isDirectory()) planPath = join(given, 'plan.json');
  } catch {
    // a missing path is reported by readBytes with its name
  }
  const text = new TextDecoder().decode(await readBytes(planPath, 'plan.json'));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new EdgesplitError('ERR_PLAN_INVALID', `${planPath} is not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}. Write it again with 'edgesplit plan'.`, { cause });
  }
  let manifest: PlanManifest;
  try {
    manifest = validatePlan(json);
  } catch (e) {
    if (e instanceof EdgesplitError) throw new EdgesplitError(e.code, `${planPath}: ${e.message}`, { details: e.details ? { ...e.details } : {}, cause: e });
    throw e;
  }
  const dir = dirname(planPath);
  const serverPath = join(dir, basename(manifest.server.file));
  const serverModel = await readBytes(serverPath, `the server half of plan '${manifest.planId}'`);
  const sha256 = createHash('sha256').update(serverModel).digest('hex');
  if (sha256 !== manifest.server.sha256) {
    throw new EdgesplitError('ERR_PLAN_HASH', `${serverPath} has sha256 ${sha256}, but plan.json of plan '${manifest.planId}' says ${manifest.server.sha256}. The file was changed or belongs to another plan: copy the whole plan directory again.`, { details: { file: serverPath, expected: manifest.server.sha256, got: sha256 } });
  }
  return { manifest, dir, planPath, serverModel, maxFrameBytes: maxFrameBytes(manifest) };
}

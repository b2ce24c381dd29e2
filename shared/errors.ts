// The one error class of edgesplit and the table of its stable codes.
// Browser-safe: imported by the planner, both runtimes and the wire protocol.

/**
 * Every stable error code, with a one-line meaning. docs/errors.md lists the same table;
 * test/shared/errors.test.ts keeps the two in step.
 */
export const ERROR_CODES = {
  // usage and files
  ERR_USAGE: 'the command line is wrong (unknown option, missing argument, bad value)',
  ERR_FILE_NOT_FOUND: 'a file named on the command line or in a plan does not exist',
  ERR_FILE_READ: 'a file exists but could not be read',
  ERR_FILE_WRITE: 'an output file or directory could not be written',
  // models and graphs
  ERR_MODEL_CORRUPT: 'the bytes are not a valid ONNX ModelProto (truncated or corrupt file)',
  ERR_MODEL_INVALID: 'the ONNX graph is structurally wrong (dangling tensor, cycle, missing weight)',
  ERR_MODEL_OPSET: 'the model uses an ONNX opset outside the supported range',
  ERR_UNSUPPORTED_OP: 'the graph holds an operator the analysis does not know',
  ERR_INPUT_SHAPE: 'an input shape is missing, malformed or does not fit the model',
  ERR_CUT_NOT_FOUND: 'the requested cut point does not exist in this model',
  ERR_SESSION: 'ONNX Runtime refused to load or run a model',
  ERR_UNKNOWN_MODEL: 'the model id is not in the model zoo',
  // pruning
  ERR_PRUNE_RATIO: 'the pruning ratio is outside [0, 1)',
  ERR_PRUNE_NOTHING: 'the model has nothing the pruner can prune',
  ERR_PRUNE_EMPTIES_LAYER: 'the ratio would remove every neuron or channel of a layer',
  // profiles, budgets, problems and plans
  ERR_PROFILE_INVALID: 'a device, channel or server profile is missing a field or has a bad value',
  ERR_UNIT: 'a quantity has the wrong unit or cannot be parsed',
  ERR_BUDGET_INVALID: 'a latency, energy or memory budget is malformed or not positive',
  ERR_INFEASIBLE: 'no split, ratio, power and frequency meet the budgets',
  ERR_PROBLEM_INVALID: 'a problem file for the optimizer is malformed',
  ERR_PLAN_INVALID: 'plan.json does not follow the plan schema',
  ERR_PLAN_VERSION: 'plan.json has a schema version this edgesplit does not understand',
  ERR_PLAN_HASH: 'a sub-model file does not match the sha256 in plan.json',
  // wire protocol and runtimes
  ERR_FRAME_MALFORMED: 'a frame is not valid msgpack or not a valid edgesplit frame',
  ERR_FRAME_TOO_LARGE: 'a frame is larger than the plan allows',
  ERR_PROTOCOL_VERSION: 'the peer speaks a protocol version this side does not',
  ERR_NO_HELLO: 'an infer frame came before a successful hello',
  ERR_UNKNOWN_PLAN: 'the server holds no plan with this id',
  ERR_HASH_MISMATCH: 'the device expects a server half with another sha256',
  ERR_UNAUTHORIZED: 'the bearer token is missing or wrong',
  ERR_TENSOR_NAME: 'a tensor is missing, unexpected or duplicated',
  ERR_TENSOR_DTYPE: 'a tensor has the wrong dtype',
  ERR_TENSOR_SHAPE: 'a tensor has the wrong shape',
  ERR_TENSOR_BYTES: 'a tensor byte length does not match its dtype and shape',
  ERR_OVERLOADED: 'the server queue is full (retryable)',
  ERR_DEADLINE_EXCEEDED: 'the request deadline passed before a result',
  ERR_SHUTTING_DOWN: 'the server is shutting down (retryable)',
  ERR_INFERENCE_FAILED: 'ONNX Runtime failed while running a request',
  ERR_CONNECTION_LOST: 'the connection dropped while a request was in flight',
  ERR_SERVER_UNREACHABLE: 'the server could not be reached within the retry budget',
  ERR_CPUFREQ: 'the planned CPU frequency could not be applied through cpufreq',
  // simulations
  ERR_SCENARIO_UNKNOWN: 'the simulation scenario name is unknown',
  ERR_CONFIG_INVALID: 'a simulation config file is malformed',
  ERR_INTERNAL: 'a bug in edgesplit: please report it with the command that triggered it',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The one error class. `code` is stable; `message` says what was expected, what came and what to do. */
export class EdgesplitError extends Error {
  readonly code: ErrorCode;
  /** Whether the same request may succeed if sent again later (overload, shutdown, lost link). */
  readonly retryable: boolean;
  /** Structured context for --json output (field names, expected and actual values). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgesplitError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, retryable: this.retryable, ...(this.details ? { details: { ...this.details } } : {}) };
  }
}

/** True for an EdgesplitError, optionally of one code. */
export function isEdgesplitError(e: unknown): e is EdgesplitError;
export function isEdgesplitError<C extends ErrorCode>(e: unknown, code: C): e is EdgesplitError & { readonly code: C };
export function isEdgesplitError(e: unknown, code?: ErrorCode): boolean {
  return e instanceof EdgesplitError && (code === undefined || e.code === code);
}

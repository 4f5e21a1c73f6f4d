import type { ErrorCode } from "../errors.ts";

/** The body of every error the agent's API answers; ApiClient reads it back. */
export interface ApiErrorBody {
  error: { code: ErrorCode; message: string };
}

/**
 * A mistake of the user's (bad flag, bad config, missing or corrupt file). The CLI prints its message as one
 * line and exits non-zero, without a stack trace. Anything else is an internal bug and keeps its stack.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export function userError(message: string): never {
  throw new UserError(message);
}

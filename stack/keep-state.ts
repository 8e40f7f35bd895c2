/**
 * TEMPERED_KEEP_STATE=1 keeps the temporary state the stack and `npm test` would remove when they end (servers'
 * data and logs, tests' disk images), to look at after a run.
 */
export function keepState(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.TEMPERED_KEEP_STATE;
  return value !== undefined && value !== '' && value !== '0';
}

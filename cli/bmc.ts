/** `tempered bmc`: being written (issue 5). */
export const usage = 'usage: tempered bmc ... (not available yet)';

export async function run(_args: string[]): Promise<number> {
  console.error(usage);
  return 2;
}

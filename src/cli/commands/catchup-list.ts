// `wal-g catchup-list`: lists the catchup backups in catchup_005/ (plain, --detail, --json, --pretty).

import { catchupListOutput } from '../../backup/catchup.ts';
import type { CommandContext } from '../context.ts';

export async function run(context: CommandContext): Promise<void> {
  const output = await catchupListOutput(context.settings, {
    pretty: context.flags.pretty === true,
    json: context.flags.json === true,
    detail: context.flags.detail === true,
  });
  if (output !== '') context.stdout.write(output);
}

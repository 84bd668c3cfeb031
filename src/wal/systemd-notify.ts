// systemd notifications for the daemon (WATCHDOG=1 every 30 s when NOTIFY_SOCKET is set). Node cannot send a
// datagram to a Unix socket itself, so the message goes through systemd's own `systemd-notify` tool.

import { execFile } from 'node:child_process';

/** The message WAL-G sends. */
export const WATCHDOG_STATE = 'WATCHDOG=1';
/** WAL-G's watchdog period. */
export const WATCHDOG_INTERVAL_MS = 30_000;

export type NotificationSender = (socket: string, state: string) => Promise<void>;

/**
 * Sends one notification through `systemd-notify` (present wherever systemd set NOTIFY_SOCKET). The sender is that
 * helper's PID, so the unit needs NotifyAccess=all (WAL-G, sending from its own PID, works with NotifyAccess=main).
 */
export const sendWithSystemdNotify: NotificationSender = (socket, state) =>
  new Promise((resolve, reject) => {
    execFile('systemd-notify', ['--no-block', state], { env: { ...process.env, NOTIFY_SOCKET: socket }, timeout: 10_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`failed connect to service: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });

// Streams one object into S3: a single PutObject when the body fits in one part, else a multipart upload whose
// parts live in a fixed pool of buffers, so memory stays at (UPLOAD_CONCURRENCY + 1) × part size.
//
// lib-storage's Upload does the same job but concatenates a fresh buffer for every part; the garbage it leaves
// behind made the resident size of a 1 GiB upload depend on when the collector ran. Here each part is copied
// into a buffer that is reused for the next part, so the bound holds whatever the collector does.

import type { Readable } from 'node:stream';
import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import { S3_MAX_PARTS } from './s3-config.ts';

type ClientModule = typeof import('@aws-sdk/client-s3');

export interface UploadRequest {
  client: S3Client;
  sdk: ClientModule;
  /** PutObject / CreateMultipartUpload parameters without Body (bucket, key, storage class, encryption...). */
  params: Record<string, unknown>;
  /** Parameters every UploadPart repeats (SSE-C). */
  partParams: Record<string, unknown>;
  body: Readable;
  partSize: number;
  concurrency: number;
}

/** The upload failed after CreateMultipartUpload; `uploadId` lets the caller abort it. */
export class MultipartUploadError extends Error {
  readonly uploadId: string | undefined;
  constructor(cause: unknown, uploadId: string | undefined) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'MultipartUploadError';
    this.uploadId = uploadId;
  }
}

/**
 * Uploads `body`; resolves once the object exists whole under its key. A body error rejects with a
 * MultipartUploadError whose cause is that very error; so does an S3 error (after the SDK's retries).
 */
export async function uploadStream(request: UploadRequest): Promise<void> {
  const { client, sdk, params, body, partSize, concurrency } = request;
  const pool: Buffer[] = [];
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let uploadId: string | undefined;
  let partNumber = 0;
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;

  const takeBuffer = (): Buffer => {
    const reused = pool.pop();
    if (reused !== undefined) return reused;
    return Buffer.allocUnsafeSlow(partSize);
  };

  /** Copies the first `length` pending bytes into a pooled buffer; the rest stays pending. */
  const cutPart = (length: number): Buffer => {
    const buffer = takeBuffer();
    let filled = 0;
    while (filled < length) {
      const chunk = pending[0];
      const take = Math.min(chunk.length, length - filled);
      chunk.copy(buffer, filled, 0, take);
      filled += take;
      if (take === chunk.length) pending.shift();
      else pending[0] = chunk.subarray(take);
    }
    pendingLength -= length;
    return buffer;
  };

  const startPart = async (length: number): Promise<void> => {
    if (uploadId === undefined) {
      const created = await client.send(new sdk.CreateMultipartUploadCommand(params as never));
      uploadId = created.UploadId;
      if (uploadId === undefined) throw new Error('CreateMultipartUpload answered without an UploadId');
    }
    partNumber++;
    if (partNumber > S3_MAX_PARTS) {
      throw new Error(`the object needs more than ${S3_MAX_PARTS} parts of ${partSize} bytes: raise S3_MAX_PART_SIZE`);
    }
    const number = partNumber;
    const buffer = cutPart(length);
    const sending = (async () => {
      try {
        const answer = await client.send(
          new sdk.UploadPartCommand({
            Bucket: params.Bucket as string,
            Key: params.Key as string,
            UploadId: uploadId,
            PartNumber: number,
            Body: buffer.subarray(0, length),
            ContentLength: length,
            ...request.partParams,
          }),
        );
        parts.push({ PartNumber: number, ETag: answer.ETag });
      } catch (error) {
        failure ??= error;
      } finally {
        pool.push(buffer);
      }
    })();
    inFlight.add(sending);
    void sending.finally(() => inFlight.delete(sending));
    // Keep at most `concurrency` parts on the wire; the next part is read while they travel.
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
  };

  try {
    for await (const chunk of body) {
      const bytes: Buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      if (bytes.length === 0) continue;
      pending.push(bytes);
      pendingLength += bytes.length;
      // Strictly more than a part: a body of exactly one part still goes up with one PutObject.
      while (pendingLength > partSize && failure === undefined) await startPart(partSize);
      if (failure !== undefined) break;
    }
    if (failure === undefined && uploadId === undefined) {
      const data = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingLength);
      pending = [];
      await client.send(new sdk.PutObjectCommand({ ...params, Body: data, ContentLength: data.length } as never));
      return;
    }
    if (failure === undefined && pendingLength > 0) await startPart(pendingLength);
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await client.send(
      new sdk.CompleteMultipartUploadCommand({
        Bucket: params.Bucket as string,
        Key: params.Key as string,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
        ...request.partParams,
      }),
    );
  } catch (error) {
    await Promise.allSettled([...inFlight]);
    throw new MultipartUploadError(error, uploadId);
  } finally {
    pool.length = 0;
    pending = [];
  }
}

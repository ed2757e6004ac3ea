// Bearer-token auth for /v1 (issue 5 point 8). Each configured token has
// scopes read, write and admin; admin implies every scope. Tokens are
// compared by their SHA-256 digests with timingSafeEqual, and every token is
// compared on every request, so the time taken says nothing about which
// token (or how much of one) matched. Without tokens there is no auth: the
// node then binds loopback only (the server entry's concern).

import { createHash, timingSafeEqual } from 'node:crypto';
import { apiError, type ApiError } from './errors.js';

export type Scope = 'read' | 'write' | 'admin';

export interface TokenGrant {
  readonly token: string;
  readonly scopes: readonly Scope[];
  /** Shown in logs instead of the token. */
  readonly name?: string;
}

interface StoredGrant {
  readonly digest: Buffer;
  readonly scopes: ReadonlySet<Scope>;
  readonly name: string;
}

export type AuthOutcome = { readonly ok: true; readonly name: string | undefined } | { readonly ok: false; readonly error: ApiError };

const REALM = 'Bearer realm="raft-ledger"';
const BEARER = /^Bearer ([\x21-\x7e]+)$/;

const digestOf = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class Authenticator {
  private readonly grants: readonly StoredGrant[];

  constructor(grants: readonly TokenGrant[]) {
    this.grants = grants.map((grant, position) => ({
      digest: digestOf(grant.token),
      scopes: new Set(grant.scopes),
      name: grant.name ?? `token-${position + 1}`,
    }));
  }

  get enabled(): boolean {
    return this.grants.length > 0;
  }

  check(authorization: string | undefined, required: Scope): AuthOutcome {
    if (!this.enabled) return { ok: true, name: undefined };
    const match = authorization === undefined ? null : BEARER.exec(authorization);
    const presented = match?.[1];
    if (presented === undefined) {
      return { ok: false, error: apiError('unauthorized', 'the Authorization header is missing or not "Bearer <token>"', { headers: { 'www-authenticate': REALM } }) };
    }
    const grant = this.find(digestOf(presented));
    if (grant === undefined) {
      return { ok: false, error: apiError('unauthorized', 'the bearer token is not valid', { headers: { 'www-authenticate': `${REALM}, error="invalid_token"` } }) };
    }
    if (!grant.scopes.has('admin') && !grant.scopes.has(required)) {
      return {
        ok: false,
        error: apiError('forbidden', `the token "${grant.name}" lacks the ${required} scope this request needs`, {
          details: { required_scope: required },
          headers: { 'www-authenticate': `${REALM}, error="insufficient_scope", scope="${required}"` },
        }),
      };
    }
    return { ok: true, name: grant.name };
  }

  private find(digest: Buffer): StoredGrant | undefined {
    let found: StoredGrant | undefined;
    for (const grant of this.grants) {
      if (timingSafeEqual(grant.digest, digest) && found === undefined) found = grant;
    }
    return found;
  }
}

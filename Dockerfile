# syntax=docker/dockerfile:1
# One image for the four services (and the demo load generator): the entrypoint is
# `node`, each compose service passes its own main file as the command,
# e.g. `services/ingestor/src/main.ts`. Node 24 strips the TypeScript types itself (the
# sources use erasable syntax only, enforced by tsconfig's erasableSyntaxOnly); nothing is compiled.

# Stage 1: only the npm manifests, so that `npm ci` is re-run when a manifest changes and
# not when any source file does.
FROM node:24-bookworm-slim AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json ! -name .npmrc -delete \
 && find . -type d -empty -delete

# Stage 2: production dependencies. onnxruntime-node's install script would download CUDA
# files from outside; its CPU binaries are inside the npm package, so the script is skipped.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY --from=manifests /src/ ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 3: the runtime image.
FROM node:24-bookworm-slim
# NODE_OPTIONS: kafkajs's negative setTimeout delay (tulios/kafkajs#1751) makes Node 24 print a
# non-JSON TimeoutNegativeWarning into the logs; behaviour is the same as on Node 20.
ENV NODE_ENV=production \
    NODE_OPTIONS=--disable-warning=TimeoutNegativeWarning \
    ONNXRUNTIME_NODE_INSTALL=skip \
    PF_MODELS_DIR=/app/models \
    PF_POLICY_FILE=/app/policies/routing.yaml \
    PF_COLD_DIR=/data/cold
WORKDIR /app
COPY --from=deps --chown=node:node /app/ ./
COPY --chown=node:node . .
# The cold lane's directory exists before a volume is mounted on it, so a fresh named
# volume inherits the node user's ownership.
RUN mkdir -p /data/cold && chown node:node /data/cold
USER node
ENTRYPOINT ["node"]
CMD ["services/ingestor/src/main.ts"]

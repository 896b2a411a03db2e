# syncabel in a container: `link-docs` shards of a job array and `serve` replicas (see docs/deployment.md).
# Node 20 slim, production dependencies only, a non-root user; the KB and the model are mounted at run time
# (read-only), never copied into the image:
#   docker build -t syncabel .
#   docker run --rm -v /data/kb:/kb:ro -v /data/model:/model:ro -p 8080:8080 -e SYNCABEL_TOKEN syncabel \
#     serve --kb /kb/kb.sqlite --model /model --host 0.0.0.0 --port 8080
# BASE: any Node 20 image on Debian (bench/container.bench.ts builds one from Debian packages, offline).
ARG BASE=node:20-slim

# 1. dist/: the TypeScript compiled (needs the dev dependencies).
FROM ${BASE} AS build
WORKDIR /src
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
RUN npx tsc -p tsconfig.build.json

# 2. node_modules/: production dependencies only. better-sqlite3 fetches its prebuilt binary, or compiles
#    itself where it cannot (python3, make, g++ are here for that, and stay out of the final image).
FROM ${BASE} AS deps
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# node-gyp: the image's own Node headers (/usr/local/include/node), not a download from nodejs.org.
ENV ONNXRUNTIME_NODE_INSTALL=skip npm_config_nodedir=/usr/local
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3

# 3. The image: no compiler, no dev dependency, not root.
FROM ${BASE}
ENV NODE_ENV=production ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY prompts ./prompts
COPY src/web ./src/web
# The mount points of the KB and the model (read-only volumes) and of job outputs (writable).
RUN mkdir -p /kb /model /out && chown 10001:10001 /out
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["node", "/app/bin/syncabel.js"]
CMD ["--help"]

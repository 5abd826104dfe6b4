# The service image: one image, two commands (API and worker). TypeScript runs directly on Node 24
# (type stripping), so there is no build step.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 FLAGS_DATA_DIR=/var/lib/flags
# The workspace packages' manifests first, so npm links @flagship/engine and @flagship/sdk (the
# server imports both by name) and the dependency layer is cached until a manifest changes.
COPY package.json package-lock.json ./
COPY src/engine/package.json ./src/engine/
COPY packages/sdk/package.json ./packages/sdk/
COPY packages/cli/package.json ./packages/cli/
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY src ./src
COPY packages/sdk/src ./packages/sdk/src
COPY sql ./sql
COPY temporal ./temporal
RUN mkdir -p /var/lib/flags && chown node:node /var/lib/flags
USER node
EXPOSE 8080
CMD ["node", "src/api/main.ts"]

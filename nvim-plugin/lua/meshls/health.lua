-- :checkhealth meshls

local M = {}

-- vim.health from Neovim 0.8 (start/ok/... from 0.10), the health module
-- before.
local health = vim.health or require('health')
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local info = health.info or health.report_info
local warn = health.warn or health.report_warn
local error = health.error or health.report_error

function M.check()
  local meshls = require('meshls')
  local options = meshls.options

  start('meshls')
  local command = options.cmd[1]
  if vim.fn.executable(command) ~= 1 then
    error(string.format('`%s` is not an executable on PATH', command), {
      'Install meshls: `cargo install --locked --path server` in its repository',
      'Or give its path: require("meshls").setup({ cmd = { "/path/to/meshls" } })',
    })
    return
  end
  local version = vim.fn.system({ command, '--version' })
  if vim.v.shell_error ~= 0 then
    error(string.format('`%s --version` failed: %s', command, version))
    return
  end
  ok(string.format('%s (%s)', vim.trim(version), vim.fn.exepath(command)))
  if vim.fn.exists(':MeshlsAsk') ~= 2 then
    warn('require("meshls").setup() has not run: no client starts and no :Meshls commands exist')
  end
  info('filetypes: ' .. table.concat(options.filetypes, ', '))

  start('meshls clients')
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  local running = 0
  for _, client in pairs(get()) do
    if client.name == 'meshls' then
      running = running + 1
      ok(string.format('client %d for %s', client.id, client.config.root_dir or '?'))
    end
  end
  if running == 0 then
    info('none running: open a file of one of the filetypes above')
  end

  -- meshls doctor: the config files it reads, the language servers it finds
  -- (each started once) and where its data lives.
  start('meshls doctor')
  -- The health buffer is current here: the project is a running client's,
  -- else the working directory's.
  local root = vim.fn.getcwd()
  for _, client in pairs(get()) do
    if client.name == 'meshls' and client.config.root_dir then
      root = client.config.root_dir
      break
    end
  end
  local report = vim.fn.system({ command, 'doctor', '--root', root })
  local lines = vim.split(vim.trim(report), '\n')
  if vim.v.shell_error == 0 then
    ok('meshls doctor in ' .. root)
  else
    warn('meshls doctor in ' .. root .. ' found problems (below)')
  end
  for _, line in ipairs(lines) do
    info(line)
  end
end

return M

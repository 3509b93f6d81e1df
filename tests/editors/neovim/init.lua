-- The init file of the Neovim tests (nvim -u this): the plugin from this
-- repository, set up with the meshls binary under test, as a user would.
vim.opt.runtimepath:prepend(os.getenv('MESHLS_TEST_PLUGIN'))
vim.opt.swapfile = false
require('meshls').setup({
  cmd = { os.getenv('MESHLS_TEST_BIN') or 'meshls' },
})

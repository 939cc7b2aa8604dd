-- A coroutine killed by the budget while it holds a to-be-closed variable whose
-- __close loops; coroutine.wrap would close it with hooks off.
local looping = setmetatable({}, { __close = function() while true do end end })

return {
  allocate = function(site)
    local f = coroutine.wrap(function()
      local guard <close> = looping
      while true do end
    end)
    pcall(f)
    while true do end
  end,
}

-- Coroutines work as usual inside the budget: a generator feeding fill's order.
return {
  allocate = function(site)
    local next_car = coroutine.wrap(function()
      for _, i in ipairs(fusebox.wanting(site)) do coroutine.yield(i) end
    end)
    local order = {}
    for i in next_car do order[#order + 1] = i end
    local ok, message = xpcall(function() error("caught") end, function(e) return "handled: " .. e end)
    assert(not ok and message:find("handled: "), "xpcall must call its handler")
    return fusebox.fill(site, order)
  end,
}

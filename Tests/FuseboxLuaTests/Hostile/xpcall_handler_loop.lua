
return {
  name = nil,
  allocate = function(site)
    while true do
      xpcall(function() error("x") end, function() while true do end end)
    end
  end,
}
